-- the recorded outcome of each row of one file after row :after, in file order,
-- with the transfers of a shared row's lead as partner:status. :outcome null
-- means every outcome. Callers page by the last row they got
with

wanted as (
    select source_row, outcome, rule, reason, lead_id, run_id
    from row_outcomes
    where
        file_id = :file_id
        and source_row > :after
        and (cast(:outcome as text) is null or outcome = :outcome)
    order by source_row
    limit :limit
),

sent as (
    select
        t.lead_id,
        string_agg(
            t.partner_id || ':' || t.status, ',' order by t.created_at, t.partner_id
        ) as transfers
    from transfers as t
    where t.lead_id in (select lead_id from wanted where outcome = 'shared')
    group by t.lead_id
)

select w.*, case when w.outcome = 'shared' then s.transfers end as transfers
from wanted as w
left join sent as s on w.lead_id = s.lead_id
order by w.source_row
