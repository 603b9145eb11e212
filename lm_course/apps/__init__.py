"""Chapter 08: applications, one module per task, each reusing the models, the training
pieces and the metrics of the earlier chapters (never a second copy).

- :mod:`lm_course.apps.sentiment`: sentence and review polarity (bag-of-words baselines,
  averaged word vectors, LSTM, Transformer encoder, a pre-trained GPT fine-tuned with a head).
- :mod:`lm_course.apps.ner`: named-entity recognition (token tagging, span F1).
- :mod:`lm_course.apps.summarization`: extractive summarisation, scored with ROUGE.
- :mod:`lm_course.apps.translation`: English <-> Chinese, baselines, greedy and beam decoding of
  encoder-decoders, BLEU and chrF with intervals.
- :mod:`lm_course.apps.dialogue`: a chat template, SFT masked to the assistant, per-role
  perplexity, replies that stop at the end-of-turn token.
- :mod:`lm_course.apps.controlled`: controlled generation (prompts, stop sequences, decoding
  knobs measured by diversity and by an independent judge model).

Nothing is imported here, so ``import lm_course.apps`` stays cheap; import the module you need.
"""
