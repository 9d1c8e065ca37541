"""Operations people perform (link, unlink, re-send): one transaction each, with an audit row.

Qt-free, so the window, the headless commands and the tests all run the same code.
"""
