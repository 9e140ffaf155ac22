-- per partner: transfers offered in this run, and transfers this run sent or
-- failed for good. A Prefect retry keeps the run id, so these counts cover every
-- attempt. pending counts the outbox now
select
    partner_id,
    count(*) filter (where run_id = :run_id) as offered,
    count(*) filter (where status = 'sent' and sent_by_run = :run_id) as sent,
    count(*) filter (
        where status = 'failed' and failed_by_run = :run_id
    ) as failed,
    count(*) filter (where status = 'pending') as pending
from transfers
group by partner_id
order by partner_id
