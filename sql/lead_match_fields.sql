-- the fields partner eligibility reads, for one lead
select lead_id, country, region, industry, product, postcode
from leads
where lead_id = :lead_id
