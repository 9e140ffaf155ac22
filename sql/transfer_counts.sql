-- per partner: transfers offered in this run, and transfers this run sent or
-- failed for good. A Prefect retry keeps the run id, so these counts cover every
-- attempt. pending counts the outbox now
with final as (
    select
        t.partner_id,
        count(*) filter (where t.run_id = :run_id) as offered,
        count(*) filter (
            where t.status = 'sent' and t.sent_by_run = :run_id
        ) as sent,
        count(*) filter (
            where t.status = 'failed' and t.failed_by_run = :run_id
        ) as failed,
        count(*) filter (where t.status = 'pending') as pending
    from transfers as t
    group by t.partner_id
)

select * from final
order by partner_id
