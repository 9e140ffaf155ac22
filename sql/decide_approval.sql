-- record a human's decision on a pending approval
-- No row is returned when the approval was decided or withdrawn in the meantime.
update approvals
set status = :status, decided_partner = :decided_partner, decided_by = :decided_by,
    note = :note, decided_at = :decided_at
where lead_id = :lead_id and status = 'pending'
returning lead_id
