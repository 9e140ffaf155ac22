-- leads given to each partner per quarter hour since :since, one row per partner
-- and quarter hour (hour + quarter * 15 minutes). The caller sums the quarters
-- inside the partner's own day and week: every time zone's offset is a multiple of
-- 15 minutes, so a day starts on a quarter-hour boundary (05:30 or 05:45 UTC, too).
-- A transfer withdrawn after an opt-out never reached the partner and is not counted.
select
    partner_id,
    date_trunc('hour', created_at) as hour,
    cast(floor(extract(minute from created_at) / 15) as integer) as quarter,
    count(*) as n
from transfers
where created_at >= :since and status <> 'withdrawn'
group by 1, 2, 3
