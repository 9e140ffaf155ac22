-- Partner ids match in any case. When partners.yaml changes only the case of an id,
-- the store's rows for that partner take the new spelling, so that its outbox, the
-- capacity it used, its held endpoint and its approvals stay its own.
-- _incoming: partner_id, one row per partner in partners.yaml.
-- A row whose new spelling already exists (a case change that some run already
-- wrote under) is left as it was, because the two would collide on a key.
update transfers
set partner_id = config.partner_id
from _incoming as config
where
    upper(transfers.partner_id) = upper(config.partner_id)
    and transfers.partner_id <> config.partner_id
    and not exists (
        select 1
        from transfers as taken
        where taken.lead_id = transfers.lead_id
            and taken.partner_id = config.partner_id
    );

update endpoint_state
set partner_id = config.partner_id
from _incoming as config
where
    upper(endpoint_state.partner_id) = upper(config.partner_id)
    and endpoint_state.partner_id <> config.partner_id
    and not exists (
        select 1 from endpoint_state as taken where taken.partner_id = config.partner_id
    );

update endpoint_backoff
set partner_id = config.partner_id
from _incoming as config
where
    upper(endpoint_backoff.partner_id) = upper(config.partner_id)
    and endpoint_backoff.partner_id <> config.partner_id
    and not exists (
        select 1 from endpoint_backoff as taken where taken.partner_id = config.partner_id
    );

update approvals
set proposed_partner = config.partner_id
from _incoming as config
where
    upper(approvals.proposed_partner) = upper(config.partner_id)
    and approvals.proposed_partner <> config.partner_id;

update approvals
set decided_partner = config.partner_id
from _incoming as config
where
    upper(approvals.decided_partner) = upper(config.partner_id)
    and approvals.decided_partner <> config.partner_id;

update decisions
set chosen_partner = config.partner_id
from _incoming as config
where
    upper(decisions.chosen_partner) = upper(config.partner_id)
    and decisions.chosen_partner <> config.partner_id
