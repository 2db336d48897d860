"""A/B tests of what a visitor reads (issue 25): the landing headline and intro, the call to
action, the result page's closing text.

quiz.experiments.lifecycle is the one writer of the experiments, their variants and their log;
quiz.experiments.assign draws and reads a visitor's variants (sticky through the draft, which
records them: quiz.taker.responses); quiz.experiments.readout puts the counters
(quiz.counters.funnel) and the statistics (quiz.domain.ab_stats) together for the coach's page
and the command line.
"""
