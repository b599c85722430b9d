"""The firewall: Cedar schema and regimes, the guard, the fast path, the prover."""
