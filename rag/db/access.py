"""Acting as a user on a connection, and collection members (who may read or write a collection).

The policies of migration 6 (``rag.db.access_schema``) filter every row by the user recorded here.
``act_as`` sets the role and the user for the session (not ``SET LOCAL``) and commits: a
transaction-local setting would vanish at the first commit inside a lent connection (the ingest
writer commits per batch), leaving the rest of the block on the superuser, which bypasses RLS. The
pool's reset hook (:func:`reset_user`) clears both when the connection goes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg

from rag.db.access_schema import APP_ROLE

Access = Literal["owner", "write", "read"]
"""What a user may do with a collection: everything, add and delete documents, or only read it."""

MemberAccess = Literal["write", "read"]
"""What an owner can give a member."""

ACT_AS = "SELECT set_config('role', %(role)s, false), set_config('app.user', %(user)s, false)"
RESET_USER = "RESET ROLE; SELECT set_config('app.user', '', false)"  # RESET cannot name app.user

LIST_MEMBERS = """
SELECT member, access, added_at FROM collection_members WHERE collection_id = %(collection_id)s ORDER BY member
"""
SET_MEMBER = """
INSERT INTO collection_members (collection_id, member, access) VALUES (%(collection_id)s, %(member)s, %(access)s)
ON CONFLICT (collection_id, member) DO UPDATE SET access = EXCLUDED.access
"""
REMOVE_MEMBER = (
    "DELETE FROM collection_members WHERE collection_id = %(collection_id)s AND member = %(member)s"
)


@dataclass(frozen=True)
class Member:
    """A user with access to a collection (its owner is listed with ``access="owner"``).

    Attributes:
        user: The user name. access: ``owner``, ``write`` or ``read``. added_at: When it was shared
            (``None`` for the owner).
    """

    user: str
    access: Access
    added_at: datetime | None = None


def act_as(conn: psycopg.Connection, user: str) -> None:
    """Make ``conn`` act as the role ``rag_app`` for ``user`` until :func:`reset_user` (then commit).

    Args:
        conn: An idle pooled connection (no transaction open); it is idle again on return.
    """
    conn.execute(ACT_AS, {"role": APP_ROLE, "user": user})
    conn.commit()


def reset_user(conn: psycopg.Connection) -> None:
    """Back to the connecting role with no user (the pool's ``reset`` hook; leaves ``conn`` idle)."""
    conn.execute(RESET_USER)
    conn.commit()


def list_members(conn: psycopg.Connection, collection_id: int) -> list[Member]:
    """Members of a collection by name (the owner sees all of them, a member only itself)."""
    return [Member(*row) for row in conn.execute(LIST_MEMBERS, {"collection_id": collection_id}).fetchall()]


def set_member(conn: psycopg.Connection, collection_id: int, member: str, access: MemberAccess) -> None:
    """Give ``member`` read or write access to a collection (replacing earlier access).

    Raises:
        psycopg.errors.InsufficientPrivilege: the acting user does not own the collection.
    """
    conn.execute(SET_MEMBER, {"collection_id": collection_id, "member": member, "access": access})


def remove_member(conn: psycopg.Connection, collection_id: int, member: str) -> bool:
    """Take a member's access away; ``False`` when it had none (or the acting user is not the owner)."""
    return conn.execute(REMOVE_MEMBER, {"collection_id": collection_id, "member": member}).rowcount > 0
