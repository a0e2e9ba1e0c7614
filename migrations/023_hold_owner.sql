-- Which server process took a hold (host, pid and a per-start id): a conversation whose answer was
-- on a process that is gone (on this host) is let go on at once, instead of waiting for the
-- recovery window; the hold itself is resolved by the same stop rule as the sweep's.
ALTER TABLE holds ADD COLUMN owner TEXT;
