select lead_id, proposed_partner, status, decided_partner, decided_by, note
from approvals
where lead_id = :lead_id
