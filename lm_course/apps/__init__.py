"""Chapter 08: applications, one module per task, each reusing the models, the training
pieces and the metrics of the earlier chapters (never a second copy).

- :mod:`lm_course.apps.sentiment`: sentence and review polarity (bag-of-words baselines,
  averaged word vectors, LSTM, Transformer encoder, a pre-trained GPT fine-tuned with a head).
- :mod:`lm_course.apps.ner`: named-entity recognition (token tagging, span F1).
- :mod:`lm_course.apps.summarization`: extractive summarisation, scored with ROUGE.

Nothing is imported here, so ``import lm_course.apps`` stays cheap; import the module you need.
"""
