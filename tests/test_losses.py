"""GAN losses against hand-computed values, their gradients, and a gradient penalty that stays finite."""

import math

import numpy as np
import pytest
import tensorflow as tf

from gen_keras import losses


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_discriminator_loss_is_the_binary_cross_entropy():
    real, fake = [0.0, 2.0, -3.0], [1.0, -1.0, 0.5]
    got = losses.discriminator_loss(tf.constant(real)[:, None], tf.constant(fake)[:, None]).numpy()
    # −log σ(r) − log(1 − σ(f)), by hand
    want = [-math.log(1 / (1 + math.exp(-r))) - math.log(1 - 1 / (1 + math.exp(-f))) for r, f in zip(real, fake)]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got.shape == (3,)  # one value per example, from [batch, 1] logits


def test_generator_losses_by_hand():
    logits = [0.0, 2.0, -3.0]
    d = [1 / (1 + math.exp(-l)) for l in logits]
    np.testing.assert_allclose(losses.minimax_generator_loss(tf.constant(logits)).numpy(),
                               [math.log(1 - x) for x in d], rtol=1e-6)
    np.testing.assert_allclose(losses.non_saturating_generator_loss(tf.constant(logits)).numpy(),
                               [-math.log(x) for x in d], rtol=1e-6)
    assert set(losses.GENERATOR_LOSSES) == {"minimax", "non_saturating"}


def test_losses_stay_finite_where_the_probability_rounds_to_0_or_1():
    extreme = tf.constant([-200.0, 200.0])
    for value in (losses.discriminator_loss(extreme, extreme), losses.minimax_generator_loss(extreme),
                  losses.non_saturating_generator_loss(extreme)):
        assert np.all(np.isfinite(value.numpy()))
    # −log D(G(z)) at a logit of −200 is 200, not inf (σ(−200) rounds to 0 in float32)
    assert losses.non_saturating_generator_loss(tf.constant([-200.0])).numpy()[0] == pytest.approx(200.0)


def test_minimax_gradient_vanishes_where_non_saturating_is_strong():
    """At D(G(z)) = 0.01 (D rejects the sample), the gradient through the logit is −D = −0.01 for
    log(1 − D) but −(1 − D) = −0.99 for −log D: the lecture's reason for the non-saturating loss."""
    logit = tf.Variable([math.log(0.01 / 0.99)])
    grads = {}
    for name, loss_fn in losses.GENERATOR_LOSSES.items():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(loss_fn(logit))
        grads[name] = float(tape.gradient(loss, logit)[0])
    assert grads["minimax"] == pytest.approx(-0.01, rel=1e-4)
    assert grads["non_saturating"] == pytest.approx(-0.99, rel=1e-4)


def test_wasserstein_losses():
    real, fake = tf.constant([[1.0], [3.0]]), tf.constant([[0.5], [-1.0]])
    np.testing.assert_allclose(losses.wasserstein_critic_loss(real, fake).numpy(), [-0.5, -4.0])
    np.testing.assert_allclose(losses.wasserstein_generator_loss(fake).numpy(), [-0.5, 1.0])


def test_gradient_penalty_at_given_interpolation_weights():
    # f(x) = ½‖x‖² has ∇f(x̂) = x̂ = ε x + (1 − ε) x̃: here x = (3, 4)·1, x̃ = 0, so ‖∇f‖ = 5ε
    critic = lambda x: 0.5 * tf.reduce_sum(tf.square(tf.reshape(x, [tf.shape(x)[0], -1])), axis=1)  # noqa: E731
    real = tf.constant([[3.0, 4.0], [3.0, 4.0], [3.0, 4.0]])
    fake = tf.zeros_like(real)
    eps = tf.constant([0.0, 0.2, 1.0])
    np.testing.assert_allclose(losses.gradient_penalty(critic, real, fake, eps).numpy(),
                               [(0.0 - 1) ** 2, (1.0 - 1) ** 2, (5.0 - 1) ** 2], atol=1e-5)


def test_gradient_penalty_draws_epsilon_uniformly_per_example():
    """With f = ½‖x‖², x = e₁ and x̃ = 0 the gradient norm is ε itself: the draws must look U[0, 1]."""
    critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=1)  # noqa: E731
    real = tf.tile(tf.constant([[1.0, 0.0]]), [4000, 1])
    tf.random.set_seed(0)
    norms = 1.0 - np.sqrt(losses.gradient_penalty(critic, real, tf.zeros_like(real)).numpy())  # ‖∇‖ ≤ 1
    assert len(np.unique(np.round(norms, 6))) > 3900  # one draw per example
    assert 0.0 <= norms.min() < 0.01 and 0.99 < norms.max() <= 1.0
    assert norms.mean() == pytest.approx(0.5, abs=0.02) and norms.var() == pytest.approx(1 / 12, abs=0.005)


def test_gradient_penalty_is_finite_when_the_gradient_is_zero():
    """A critic with zero weights has ∇f = 0; plain sqrt would make the penalty's gradient NaN."""
    kernel = tf.Variable(tf.zeros([4, 1]))
    critic = lambda x: tf.matmul(x, kernel)  # noqa: E731
    real, fake = tf.ones([3, 4]), tf.zeros([3, 4])
    with tf.GradientTape() as tape:
        penalty = losses.gradient_penalty(critic, real, fake)
        total = tf.reduce_mean(penalty)
    grad = tape.gradient(total, kernel)
    np.testing.assert_allclose(penalty.numpy(), 1.0, atol=1e-5)  # (0 − 1)²
    assert np.all(np.isfinite(grad.numpy()))  # with tf.norm / plain sqrt: NaN (∞ · 0)
