"""A chat room over websockets: an HTML page, plain JavaScript and a
``WebSocketHandler`` that broadcasts each message to everyone connected.

Run it with ``python -m tornadoish examples.chat.app:app`` and open
http://127.0.0.1:8888/ in two browser windows. See ``examples/chat/app.py``.
"""
