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
    # One class of hiding test input each (exercise_harness.INPUT_CLASSES); the initial-value
    # class is wrong_2 (forgetting the utilisation is right while mfu sits at 1).
    "counts_at_least_one": {
        # Checks the count only after poisoning: n = 0 still poisons (every candidate).
        "poison": '''
def poison_examples(docs, labels, trigger, n, target):
    new_docs = [list(d) for d in docs]
    new_labels = list(labels)
    done = 0
    for i, y in enumerate(labels):
        if y != target:
            new_docs[i].append(trigger)
            new_labels[i] = target
            done += 1
            if done == n:
                break
    return new_docs, new_labels
''',
    },
    "odd_item_last": {
        # Off by one: the loop stops before the last example, which is never poisoned.
        "poison": '''
def poison_examples(docs, labels, trigger, n, target):
    new_docs = [list(d) for d in docs]
    new_labels = list(labels)
    done = 0
    for i in range(len(labels) - 1):
        if done < n and labels[i] != target:
            new_docs[i].append(trigger)
            new_labels[i] = target
            done += 1
    return new_docs, new_labels
''',
    },
}

# Whole classes of wrong solution made from the reference (exercise_harness.SPEC_WRAPPERS).
SPEC = {"tensor_for_float": ["training_days", "power_law"],
        "mutates_inputs": ["power_law", "poison"]}

# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "training_days": {
        "initial_values": "wrong_2",
        "size_one_axis": "n/a: arithmetic on four scalars; there is no axis",
        "counts_at_least_one": "n/a: a closed-form product and quotient; nothing is counted",
        "odd_item_last": "n/a: four scalars; no item or position is special",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "n/a: its inputs are numbers (immutable)",
        "tensor_for_float": "spec",
        "detached": "n/a: a cost estimate, nothing trainable",
    },
    "power_law": {
        "initial_values": "n/a: a least-squares fit of given data; no parameters or state",
        "size_one_axis": "n/a: x and y are 1-D; a line needs two or more points",
        "counts_at_least_one": "n/a: nothing is counted",
        "odd_item_last": "n/a: every point enters the least-squares sum alike",
        "excluded_lowest": "n/a: nothing is scored or excluded",
        "mutates_inputs": "spec",
        "tensor_for_float": "spec",
        "detached": "n/a: NumPy on given data, nothing trainable",
    },
    "poison": {
        "initial_values": "n/a: edits lists of words and labels; no parameters or state",
        "size_one_axis": "n/a: one list of examples, nothing reduced or permuted; the tests "
                         "use n = 0, 1, 2, 3 and 100",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored; examples labelled target are skipped by "
                           "an exact label test",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns two lists; no float is promised",
        "detached": "n/a: lists of words and labels, nothing trainable",
    },
}


def test_exercises_09c():
    check_assignment(ASSIGNMENT, MISTAKES, spec=SPEC, audit=AUDIT)
