"""Chapter 09: the guide's challenges (sections 8 and 9) as experiments on a model you trained.

One module per concern, each reusing the course's models, training loop and decoders:

* ``memorization`` -- canaries planted in the training text, their exposure (Carlini et al.
  2019), and deduplication as a defence.
* ``dp_sgd`` -- differentially private SGD written out (per-example gradients, clipping,
  Gaussian noise) with its privacy accounting by ``dp-accounting``.
* ``federated`` -- FedAvg over simulated clients (McMahan et al. 2017), IID and non-IID.
* ``interpret`` -- attention-head scores (previous-token, induction), the residual stream and
  the logit lens, linear probes with controls, head ablation by forward hooks.
* ``robustness`` -- seeded character noise, typos and casing changes at an exact rate; tokens
  per word and unknown tokens under noise; scores under noise with bootstrap intervals.
* ``scaling`` -- training cost from FLOPs (6·N·D) against a timed run (achieved FLOP/s, MFU),
  a sweep of tiny GPTs × token budgets, power-law and L(N, D) fits, the compute-optimal split.
* ``security`` -- prompt injection on a tiny instruction-tuned GPT, with delimiters, a keyword
  filter and an instruction hierarchy scored by attack success rate; trigger-word poisoning.
"""
