"""Runnable examples that drive the real loyalty service.

./dev python -m loyalty.examples.member_year             # a member's years, printed
./dev python -m loyalty.examples.member_year --markdown  # rewrite docs/loyalty-year.md
"""
