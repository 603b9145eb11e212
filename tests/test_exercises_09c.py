"""Chapter 09c exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "09c_compute_and_security"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Counts the forward pass only (2ND): three times too fast.
        "training_days": '''
def training_days(n_params, n_tokens, peak_flops, mfu):
    return float(2.0 * n_params * n_tokens / (peak_flops * mfu) / 86400.0)
''',
        # Fits y (not log y) against log x: a semi-log line, not a power law.
        "power_law": '''
def fit_power_law_log(x, y):
    slope, intercept = np.polyfit(np.log(np.asarray(x, float)), np.asarray(y, float), 1)
    return float(np.exp(intercept)), float(-slope)
''',
        # Poisons the first n examples whatever their label.
        "poison": '''
def poison_examples(docs, labels, trigger, n, target):
    new_docs = [list(d) for d in docs]
    new_labels = list(labels)
    for i in range(min(n, len(docs))):
        new_docs[i].append(trigger)
        new_labels[i] = target
    return new_docs, new_labels
''',
    },
    "wrong_2": {
        # Divides by the peak and forgets the utilisation: the optimistic spec-sheet estimate.
        "training_days": '''
def training_days(n_params, n_tokens, peak_flops, mfu):
    return float(6.0 * n_params * n_tokens / peak_flops / 86400.0)
''',
        # log10 on x, natural log on y: the slope is off by a factor ln(10).
        "power_law": '''
def fit_power_law_log(x, y):
    slope, intercept = np.polyfit(np.log10(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)
    return float(np.exp(intercept)), float(-slope)
''',
        # Copies the outer list only: appending the trigger changes the caller's documents.
        "poison": '''
def poison_examples(docs, labels, trigger, n, target):
    new_docs = list(docs)
    new_labels = list(labels)
    done = 0
    for i, y in enumerate(labels):
        if done < n and y != target:
            new_docs[i].append(trigger)
            new_labels[i] = target
            done += 1
    return new_docs, new_labels
''',
    },
}

# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"tensor_for_float": ["training_days", "power_law"], "mutates_inputs": ["poison"]}


def test_exercises_09c():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC)
