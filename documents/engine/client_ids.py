"""Which user writes the new clocks of each Yjs client id in a room.

A Yjs client id is a number a Doc draws for itself at random, and every item it makes is numbered by it. An
editor who learns another's id (every update and presence message carries it) could write that id's next clocks
first: the owner's edits would then re-send clocks the room has (ignored) and its next ones would refer to items
it never made (refused), so its tab could not edit again until reloaded. So the first user to write an id, or to
use it for presence, owns it in the room for as long as the room is loaded, and an update adding clocks to
another user's id is refused (1007). Deleting is not restricted: any editor may delete any content.

Ownership lives in one process: a connection on another process is checked there, against what that process
has seen.
"""

from __future__ import annotations

from collections.abc import Callable

from documents.engine.update_reader import SKIP, UpdateStructure
from documents.exceptions import ProtocolError

StateVector = dict[int, int]


class ClientIdOwners:
    """The user who owns each client id that wrote to the room, or used it for presence, while it is loaded."""

    def __init__(self) -> None:
        self._owners: dict[int, int] = {}

    def check(
        self, structure: UpdateStructure, state: StateVector, user_id: int, presence_user: Callable[[int], int | None]
    ) -> set[int]:
        """The client ids an update adds clocks to; raises ProtocolError when one is another user's."""
        writing = {
            s.client for s in structure.structs if s.kind != SKIP and s.clock + s.length > state.get(s.client, 0)
        }
        for client in writing:
            owner = self._owners.get(client)
            if owner is None:
                owner = presence_user(client)
            if owner is not None and owner != user_id:
                raise ProtocolError(f"client id {client} belongs to another user")
        return writing

    def claim(self, clients: set[int], user_id: int | None) -> None:
        """Record that ``user_id`` wrote these client ids (after its update was taken; None: server code)."""
        if user_id is None:
            return
        for client in clients:
            self._owners.setdefault(client, user_id)
