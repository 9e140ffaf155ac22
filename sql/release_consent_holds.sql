-- release the consent hold of :lead_id, or of every lead of :partner_id's failed
-- transfers (null means any), once someone has checked the unclear value
delete from consent_holds
where
    (cast(:lead_id as text) is null or lead_id = :lead_id)
    and (
        cast(:partner_id as text) is null
        or lead_id in (
            select lead_id from transfers
            where partner_id = :partner_id and status = 'failed'
        )
    )
returning lead_id
