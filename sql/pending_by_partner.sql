-- per partner and channel: transfers still pending in the outbox, whether or not
-- the partner is in partners.yaml
select
    partner_id,
    channel,
    count(*) as pending
from transfers
where status = 'pending'
group by partner_id, channel
order by partner_id, channel
