"""Use cases. Each owns its transaction: decide, record in the ledger, then open the vault."""
