# Job ids per clip on APIXO: one id in every list is one paid job per clip.
curl -s "$KLING_EMULATOR_URL/_emulator/jobs?by=client_reference&gateway=apixo"
