-- The smallest bare SQL transaction that does a consumption's bookkeeping (SPEC "Performance"):
-- lock the balance row, insert a ledger row with a unique reference, update the balance. Run by
-- benchmarks/smallest.py as `pgbench -n -c 8 -j 2 -T <seconds> -f <this file>` with
-- -D wallet=<the pool's wallet> -D organization=<its organization> -D account=<a member>
-- -D tag=<the run's number>; the rows it writes are taken out again after the run.
BEGIN;
SELECT balance FROM credits_wallet WHERE id = :wallet FOR UPDATE;
INSERT INTO credits_ledgerentry (wallet_id, kind, amount, account_id, organization_id, reference, note, created_at) VALUES (:wallet, 'consumption', -0.01, :account, :organization, 'pgbench-' || :tag || '-' || :client_id || '-' || gen_random_uuid(), '', now());
UPDATE credits_wallet SET balance = balance - 0.01 WHERE id = :wallet;
COMMIT;
