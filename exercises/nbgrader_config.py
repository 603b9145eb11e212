# nbgrader settings for the LM Course exercises. Run nbgrader from this folder
# (or use `make release` / `make grade` from the repository root).
c = get_config()  # noqa: F821  (provided by nbgrader)

c.CourseDirectory.course_id = "lm-course"
c.CourseDirectory.root = "."
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Solutions and hidden tests are marked in the source notebooks like this:
#   ### BEGIN SOLUTION ... ### END SOLUTION
#   ### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Submissions run with the course package; give slow CPUs room.
c.Execute.timeout = 300
