"""Every op the off-chain checks support has an on-chain verifier deployed and registered for it, and
vice versa: otherwise a challenger would find fraud it cannot prove (or the game would accept proofs
the challenger never looks for)."""

from assay.deployer import VERIFIERS
from assay.fraud import ops


def test_every_checked_op_has_a_deployed_verifier_and_back():
    registered = {op for names in VERIFIERS.values() for op in names}
    checked = {op for (domain, op) in ops._OPS if domain == ""}
    assert registered == checked


def test_the_deployed_stack_registers_each_verifier_with_the_game(game):
    for name, op_types in VERIFIERS.items():
        addresses = {game.verifierOf("", op) for op in op_types}
        assert len(addresses) == 1 and int(next(iter(addresses)), 16) != 0, f"{name}: {op_types}"
