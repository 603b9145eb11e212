"""Chapter 08f exercises, graded by nbgrader: the solutions score full marks, the release
scores zero and leaks nothing, and each realistic wrong solution below loses points on its
own exercise only (see ``exercise_harness.check_assignment``)."""

from exercise_harness import check_assignment

ASSIGNMENT = "08f_dialogue"

# Each fake student makes one common mistake per exercise; the code replaces the whole
# ``<ex>-solution`` cell.
MISTAKES = {
    "wrong_1": {
        # Leaves the assistant's END out of the mask: the model never learns to stop.
        "chat_mask": '''
def chat_mask(turns):
    ids, mask = [], []
    for role, text in turns:
        ids += [USER if role == "user" else ASSISTANT] + list(text) + [END]
        keep = 1 if role == "assistant" else 0
        mask += [0] + [keep] * len(text) + [0]
    return ids, mask
''',
        # Keeps the end token in the reply (cuts just after it, not before it).
        "cut_at_end": '''
def cut_at_end(generated):
    for i, t in enumerate(generated):
        if t in (USER, ASSISTANT, END):
            return list(generated[:i + 1]), True
    return list(generated), False
''',
    },
    "wrong_2": {
        # Masks the whole assistant turn, its role token included (trained on a token that
        # the prompt always supplies).
        "chat_mask": '''
def chat_mask(turns):
    ids, mask = [], []
    for role, text in turns:
        turn = [USER if role == "user" else ASSISTANT] + list(text) + [END]
        ids += turn
        mask += [1 if role == "assistant" else 0] * len(turn)
    return ids, mask
''',
        # Looks for END only: a reply in which the model opens a user turn runs on.
        "cut_at_end": '''
def cut_at_end(generated):
    if END in generated:
        return list(generated[:generated.index(END)]), True
    return list(generated), False
''',
    },
    # One class of hiding test input each (exercise_harness.INPUT_CLASSES).
    "size_one_axis": {
        # Trains on the last assistant reply only: right while a chat has one assistant turn.
        "chat_mask": '''
def chat_mask(turns):
    replies = [i for i, (role, _) in enumerate(turns) if role == "assistant"]
    last = replies[-1] if replies else -1
    ids, mask = [], []
    for i, (role, text) in enumerate(turns):
        ids += [USER if role == "user" else ASSISTANT] + list(text) + [END]
        mask += [0] + [1 if i == last else 0] * (len(text) + 1)
    return ids, mask
''',
    },
    "counts_at_least_one": {
        # END copies the mask of the token before it: an empty reply's END is not trained
        # (right while every turn has at least one text token).
        "chat_mask": '''
def chat_mask(turns):
    ids, mask = [], []
    for role, text in turns:
        ids += [USER if role == "user" else ASSISTANT] + list(text) + [END]
        mask += [0] + [1 if role == "assistant" else 0] * len(text)
        mask.append(mask[-1])
    return ids, mask
''',
        # Uses -1 as "no end token found" (like str.find): then drops the last token.
        "cut_at_end": '''
def cut_at_end(generated):
    found = [generated.index(t) for t in (USER, ASSISTANT, END) if t in generated]
    i = min(found, default=-1)
    return list(generated[:i]), i >= 0
''',
    },
    "odd_item_last": {
        # Takes the roles from the position (user first, then alternating), not from the
        # turns: right while every chat starts with the user.
        "chat_mask": '''
def chat_mask(turns):
    ids, mask = [], []
    for i, (_, text) in enumerate(turns):
        assistant = i % 2 == 1
        ids += [ASSISTANT if assistant else USER] + list(text) + [END]
        mask += [0] + [1 if assistant else 0] * (len(text) + 1)
    return ids, mask
''',
        # Stops scanning one token early: an end token in the last position is missed.
        "cut_at_end": '''
def cut_at_end(generated):
    for i in range(len(generated) - 1):
        if generated[i] in (USER, ASSISTANT, END):
            return list(generated[:i]), True
    return list(generated), False
''',
    },
}

# the reference solutions, but changing the lists they were given: the hidden tests notice
SPEC = {"mutates_inputs": ["chat_mask", "cut_at_end"]}

# Every exercise against every class of hiding input (exercise_harness.INPUT_CLASSES) and of
# spec mistake: the student who makes that mistake there, "spec", or why it cannot occur.
AUDIT = {
    "chat_mask": {
        "initial_values": "n/a: builds two lists from the turns; no parameters or state",
        "size_one_axis": "size_one_axis",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored or excluded; the mask is set per token",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns lists of ints; no float is promised",
        "detached": "n/a: plain Python lists, nothing trainable",
    },
    "cut_at_end": {
        "initial_values": "n/a: cuts a list of ids; no parameters or state",
        "size_one_axis": "n/a: one flat list of ids; no axis is reduced or permuted",
        "counts_at_least_one": "counts_at_least_one",
        "odd_item_last": "odd_item_last",
        "excluded_lowest": "n/a: nothing is scored; the stop tokens are matched exactly",
        "mutates_inputs": "spec",
        "tensor_for_float": "n/a: returns a list and a bool; no float is promised",
        "detached": "n/a: plain Python lists, nothing trainable",
    },
}


def test_exercises_08f():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2, spec=SPEC, audit=AUDIT)
