-- per partner: transfers offered in this run, and the state of its outbox now
select
    partner_id,
    count(*) filter (where run_id = :run_id) as offered,
    count(*) filter (where status = 'sent') as sent,
    count(*) filter (where status = 'pending') as pending,
    count(*) filter (where status = 'failed') as failed
from transfers
group by partner_id
order by partner_id
