# The residents' side of the cabinet: card swipe and keypad flow, OLED screens and
# their texts, the beeper.
