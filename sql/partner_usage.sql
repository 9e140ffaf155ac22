-- leads given to each partner per hour since :since, one row per partner and
-- hour. The caller sums the hours inside the partner's own day and week. A
-- transfer withdrawn after an opt-out never reached the partner and is not counted.
select
    partner_id,
    date_trunc('hour', created_at) as hour,
    count(*) as n
from transfers
where created_at >= :since and status <> 'withdrawn'
group by 1, 2
