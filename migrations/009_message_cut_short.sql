-- An answer that ended at the max_tokens its turn could pay for (the balance or a spend limit
-- allowed fewer than were asked for) says so: the page shows "cut short at N tokens" and why.
ALTER TABLE messages ADD COLUMN cut_short INTEGER CHECK (cut_short IS NULL OR cut_short >= 1);
