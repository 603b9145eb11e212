"""How the course is run, kept apart from what it teaches.

The modules beside this one (``lm_course.tokenizers`` ... ``lm_course.apps``) are the
chapters' concepts; this subpackage is the machinery around them:

- :mod:`~lm_course.tooling.cli` (and ``cli_lm``): the ``lm-course`` command;
- :mod:`~lm_course.tooling.runner`: executing the notebooks into ``build/``;
- :mod:`~lm_course.tooling.pages` and :mod:`~lm_course.tooling.slides`: chapter pages and
  reveal.js decks that work offline (``templates/`` holds their nbconvert templates);
- :mod:`~lm_course.tooling.grading`, ``grading_hooks``, ``policy``, ``selfcheck``: the graded
  exercises with nbgrader (release, autograde, feedback, rules, ``lm-course check``).
"""
