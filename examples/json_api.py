"""A small JSON API: an in-memory collection of notes with create, read, list and delete.

Run it with ``python -m tornadoish examples.json_api:app``.
"""

from __future__ import annotations

from typing import Any

from tornadoish.web import Application, HTTPError, RequestHandler


class NotesStore:
    """Notes kept in memory, numbered from 1."""

    def __init__(self) -> None:
        self.notes: dict[int, dict[str, Any]] = {}
        self._next_id = 1

    def add(self, text: str) -> dict[str, Any]:
        note = {"id": self._next_id, "text": text}
        self.notes[self._next_id] = note
        self._next_id += 1
        return note


class NotesHandler(RequestHandler):
    def initialize(self, store: NotesStore) -> None:
        self.store = store

    def get(self) -> None:
        self.write({"notes": list(self.store.notes.values())})

    def post(self) -> None:
        body = self.get_json_body()
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            raise HTTPError(422, reason="Body must be an object with a string 'text'")
        note = self.store.add(body["text"])
        self.set_status(201)
        self.set_header("Location", self.reverse_url("note", note["id"]))
        self.write(note)


class NoteHandler(RequestHandler):
    def initialize(self, store: NotesStore) -> None:
        self.store = store

    def _note(self, note_id: str) -> dict[str, Any]:
        note = self.store.notes.get(int(note_id))
        if note is None:
            raise HTTPError(404, reason="No such note")
        return note

    def get(self, note_id: str) -> None:
        self.write(self._note(note_id))

    def delete(self, note_id: str) -> None:
        self._note(note_id)
        del self.store.notes[int(note_id)]
        self.set_status(204)


def make_app() -> Application:
    store = NotesStore()
    return Application(
        [
            (r"/notes", NotesHandler, {"store": store}),
            (r"/notes/([0-9]+)", NoteHandler, {"store": store}, "note"),
        ]
    )


app = make_app()
