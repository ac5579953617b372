"""The student package of *Maths for Deep Learning*.

Everything a student needs to run an assignment's visible tests and the capstone's public pieces:

- :mod:`mdl_student.checks`: the answer checks every test cell imports;
- :mod:`mdl_student.safe_sympy`: the whitelisting parsers behind symbolic answers;
- :mod:`mdl_student.tolerances`: the default tolerances of the checks;
- :mod:`mdl_student.codec`, :mod:`mdl_student.kernel_agent`: how the grader's sandbox talks to
  your notebook (they hold no tests and no answers).

It holds no reference solution, no hidden test and no grading code: the grader's sandbox can import
this package and nothing else of the course.
"""

__version__ = "0.1.0"
