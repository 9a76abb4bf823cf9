"""Bounds on the numbers and lists a user sends, so that every value fits its column and every
list its query (PostgreSQL binds at most 65,535 parameters in one statement; a list of ids
beyond that was a 500)."""

MAX_ID = 2**63 - 1  # PostgreSQL bigint: every primary key
MAX_IDS = 5000  # ids in one request: as many as a store's SKU limit
