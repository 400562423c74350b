// The chat page's client: one websocket to the URL the server put in
// <body data-ws-url>, JSON messages both ways. Everything received is shown with
// textContent, never as HTML: a message is text, whatever it contains.
"use strict";

(function () {
  const status = document.getElementById("status");
  const messages = document.getElementById("messages");
  const form = document.getElementById("chat-form");
  const nickname = document.getElementById("nickname");
  const text = document.getElementById("text");
  const send = document.getElementById("send");

  function setStatus(state, description) {
    status.dataset.state = state;
    status.textContent = description;
  }

  function appendMessage(from, body) {
    const item = document.createElement("li");
    const author = document.createElement("span");
    author.className = "from";
    author.textContent = from;
    const content = document.createElement("span");
    content.className = "text";
    content.textContent = body;
    item.append(author, content);
    messages.append(item);
    item.scrollIntoView({ block: "end" });
  }

  const socket = new WebSocket(document.body.dataset.wsUrl);

  socket.addEventListener("open", function () {
    setStatus("open", "Connected");
    send.disabled = false;
  });

  socket.addEventListener("close", function () {
    setStatus("closed", "Disconnected: reload the page to join again");
    send.disabled = true;
  });

  socket.addEventListener("message", function (event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (error) {
      return; // not ours: ignore it
    }
    if (typeof message.error === "string") {
      setStatus("error", message.error);
    } else if (typeof message.from === "string" && typeof message.text === "string") {
      if (status.dataset.state === "error") {
        setStatus("open", "Connected");
      }
      appendMessage(message.from, message.text);
    }
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (socket.readyState !== WebSocket.OPEN || text.value.trim() === "") {
      return;
    }
    socket.send(JSON.stringify({ nickname: nickname.value, text: text.value }));
    text.value = "";
    text.focus();
  });
})();
