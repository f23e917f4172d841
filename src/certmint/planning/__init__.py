"""Pure decisions: given a Certificate, its Secret and its Issuer, what to do and when."""
