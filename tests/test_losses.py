"""The three training losses, checked against values worked out by hand."""

import math

import pytest
import torch

from weaklesion.errors import ConfigError
from weaklesion.training.losses import compute_loss, coseg_pairs

LN2 = math.log(2.0)


def zero_outputs(n=2, k=None, size=8):
    out = {"mask": torch.zeros(n, 1, size, size)}
    if k is not None:
        out["cluster"] = torch.zeros(n, k)
    return out


def half_masks(n=2, size=8):
    mask = torch.zeros(n, 1, size, size)
    mask[:, :, : size // 2] = 1.0
    return mask


def test_a1_with_zero_logits_is_100_ln2():
    terms = compute_loss("A1", zero_outputs(), {"mask": half_masks()})
    assert set(terms) == {"loss", "mask_loss"}
    assert terms["loss"].item() == pytest.approx(100 * LN2, rel=1e-6)
    assert terms["mask_loss"].item() == pytest.approx(100 * LN2, rel=1e-6)


def test_a1_averages_bce_over_pixels():
    logits = torch.tensor([2.0, -1.0, 0.5, -3.0]).view(1, 1, 2, 2)
    target = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 2, 2)
    # BCE(x, 1) = ln(1 + e^-x); BCE(x, 0) = ln(1 + e^x).
    by_hand = (
        math.log1p(math.exp(-2.0))
        + math.log1p(math.exp(1.0))
        + math.log1p(math.exp(0.5))
        + math.log1p(math.exp(-3.0))
    ) / 4
    terms = compute_loss("A1", {"mask": logits}, {"mask": target})
    assert terms["loss"].item() == pytest.approx(100 * by_hand, rel=1e-6)


def test_a1l_with_zero_logits_is_50_ln2_plus_ln_k():
    k = 5
    targets = {"mask": half_masks(), "cluster": torch.tensor([0, 3])}
    terms = compute_loss("A1+L", zero_outputs(k=k), targets)
    assert set(terms) == {"loss", "mask_loss", "cluster_loss"}
    assert terms["mask_loss"].item() == pytest.approx(50 * LN2, rel=1e-6)
    assert terms["cluster_loss"].item() == pytest.approx(math.log(k), rel=1e-6)
    assert terms["loss"].item() == pytest.approx(50 * LN2 + math.log(k), rel=1e-6)


def test_a1l_cluster_term_is_cross_entropy_of_the_true_cluster():
    outputs = zero_outputs(n=2, k=3)
    outputs["cluster"] = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    targets = {"mask": half_masks(), "cluster": torch.tensor([0, 2])}
    first = -math.log(math.exp(2) / (math.exp(2) + 2))
    second = -math.log(1 / (math.exp(1) + 2))
    terms = compute_loss("A1+L", outputs, targets)
    assert terms["cluster_loss"].item() == pytest.approx((first + second) / 2, rel=1e-6)


def test_acoseg_sums_the_two_sub_batches():
    terms = compute_loss(
        "ACoseg",
        (zero_outputs(), zero_outputs()),
        ({"mask": half_masks()}, {"mask": torch.ones(2, 1, 8, 8)}),
    )
    assert set(terms) == {"loss", "mask_loss"}
    assert terms["loss"].item() == pytest.approx(2 * LN2, rel=1e-6)


def test_acoseg_takes_bce_of_the_sigmoid_as_the_reference_did():
    # sigmoid(30) is exactly 1.0 in float32: BCE on the sigmoid then hits PyTorch's clamp of
    # log(0) at -100, where BCE on the logits would give 30.
    saturated_wrong = {"mask": torch.full((1, 1, 2, 2), 30.0)}
    confident_right = {"mask": torch.full((1, 1, 2, 2), -30.0)}
    background = {"mask": torch.zeros(1, 1, 2, 2)}
    terms = compute_loss("ACoseg", (saturated_wrong, confident_right), (background, background))
    assert terms["loss"].item() == pytest.approx(100.0, abs=1e-4)


def test_mask_and_cluster_terms_add_up_and_carry_gradients():
    logits = torch.randn(2, 1, 8, 8, requires_grad=True)
    cluster = torch.randn(2, 4, requires_grad=True)
    terms = compute_loss(
        "A1+L",
        {"mask": logits, "cluster": cluster},
        {"mask": half_masks(), "cluster": torch.tensor([1, 2])},
    )
    assert terms["loss"].item() == pytest.approx(
        terms["mask_loss"].item() + terms["cluster_loss"].item(), rel=1e-6
    )
    terms["loss"].backward()
    assert logits.grad.abs().sum() > 0 and cluster.grad.abs().sum() > 0


def test_pairs_of_a_batch_of_8_wrap_around():
    assert coseg_pairs(8) == [(slice(0, 4), slice(4, 8)), (slice(4, 8), slice(0, 4))]


def test_pairs_of_other_batch_sizes():
    assert coseg_pairs(4) == [(slice(0, 4), slice(0, 4))]
    assert coseg_pairs(6, sub_batch=2) == [
        (slice(0, 2), slice(2, 4)),
        (slice(2, 4), slice(4, 6)),
        (slice(4, 6), slice(0, 2)),
    ]
    assert coseg_pairs(9) == coseg_pairs(8)  # the ninth image belongs to no sub-batch
    with pytest.raises(ValueError):
        coseg_pairs(3)
    with pytest.raises(ValueError):
        coseg_pairs(8, sub_batch=0)


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ConfigError, match=r"'A2'.*A1.*ACoseg.*A1\+L"):
        compute_loss("A2", zero_outputs(), {"mask": half_masks()})


def test_acoseg_needs_pairs():
    with pytest.raises(TypeError, match="pair"):
        compute_loss("ACoseg", zero_outputs(), {"mask": half_masks()})


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="do not match"):
        compute_loss("A1", zero_outputs(), {"mask": torch.zeros(2, 8, 8)})
    with pytest.raises(ValueError, match="do not match"):
        compute_loss(
            "A1+L", zero_outputs(k=3), {"mask": half_masks(), "cluster": torch.tensor([0])}
        )
