#!/usr/bin/env python3
"""Adds the index tansu 0.6's SQLite storage lacks: usage `tansu-index.py <tansu.db>`.

Every record a fetch returns looks up its headers (`header_fetch.sql`: header joined to record
on topition and offset_id), and tansu's schema has no index on header (topition, offset_id), so
each lookup scanned every header ever written: the broker got slower with every event it held
(checkouts to `paid` fell from 18.8/s to 11.0/s over six benchmark runs, one core busy with
fetches). Run once tansu has created its tables; waits up to 10 s for them. Idempotent.
"""
import sqlite3
import sys
import time

DB = sys.argv[1]
for _ in range(100):
    try:
        c = sqlite3.connect(f"file:{DB}?mode=rw", uri=True, timeout=10)
        if c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'header'").fetchone():
            c.execute("CREATE INDEX IF NOT EXISTS storefront_header_record ON header (topition, offset_id)")
            c.commit()
            sys.exit(0)
        c.close()
    except sqlite3.Error:
        pass
    time.sleep(0.1)
sys.exit(f"tansu-index: the broker's tables did not appear in {DB} within 10 s")
