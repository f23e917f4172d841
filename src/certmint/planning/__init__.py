"""Pure decisions, laid out by kind like operator/: certificates/, issuers/, bundles/, csrs/, which
never import each other, beside the common part they share (gates, the issuer view, the request,
reasons, labels, status, contest, ownership, policy, constraints, identity, markings, events)."""
