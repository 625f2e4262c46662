"""Structure-aware fuzzing of the receive path: y-websocket traffic in, the document invariant checked.

The invariant, for one document: the room's Doc = its stored rows applied to an empty Doc = what a fresh joiner
receives = what every honest connected client holds (equal state vectors, XML and delete sets, no items one has
and the other lacks); the budgets of the configuration hold (nesting depth, structs per update, pending bytes);
nothing but a CollabError leaves ``Room.receive`` and no connection is closed with 1011; a dropped room frees its
Doc and the process's RSS stays under a ceiling.

Modules: ``session`` (the recorded Yjs session ``session.hex``, made by ``record_session.mjs``, and a random
Tiptap-shaped editor), ``ycodec`` (a re-encoding update codec), ``mutator`` and ``awareness`` (the mutations),
``clients`` (fake connections with their own Doc), ``arena`` (a room, its connections and the script of what was
done), ``oracle`` and ``checks`` (the invariant), ``corpus`` (replaying, shrinking and saving findings),
``room_driver`` and ``socket_driver`` (driver 1 without sockets, driver 2 against daphne), ``__main__`` (``make
fuzz``). The seeded CI slice and the corpus replay are in tests/test_fuzz.py.
"""
