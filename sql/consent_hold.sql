-- the reason a lead's consent is unclear (see consent_holds), if it is
select reason
from consent_holds
where lead_id = :lead_id
