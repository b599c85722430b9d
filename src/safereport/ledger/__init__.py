"""The ledger: a tamper-evident Merkle log (RFC 6962) of every access decision."""
