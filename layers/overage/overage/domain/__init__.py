"""Pure billing rules: no boto3, no clock, no environment. Time, ids and configuration come in as arguments."""
