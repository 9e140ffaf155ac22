-- per partner: transfers offered in this run, and transfers sent or failed for
-- good since the run started. A Prefect retry keeps the first attempt's
-- started_at, so these counts cover every attempt. pending counts the outbox now
-- NOTE: transfers record no run that sent them, so a run that goes between two
-- attempts of a retried run has its sends counted by both runs' summaries.
with run_start as (
    select started_at from runs where run_id = :run_id
),

final as (
    select
        t.partner_id,
        count(*) filter (where t.run_id = :run_id) as offered,
        count(*) filter (
            where t.status = 'sent' and t.sent_at >= s.started_at
        ) as sent,
        count(*) filter (
            where t.status = 'failed' and t.failed_at >= s.started_at
        ) as failed,
        count(*) filter (where t.status = 'pending') as pending
    from transfers as t
    left join run_start as s on true
    group by t.partner_id
)

select * from final
order by partner_id
