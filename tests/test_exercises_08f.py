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
}

# the reference solutions, but changing the lists they were given: the hidden tests notice
SPEC = {"mutates_inputs": ["chat_mask", "cut_at_end"]}


def test_exercises_08f():
    check_assignment(ASSIGNMENT, MISTAKES, min_exercises=2, spec=SPEC)
