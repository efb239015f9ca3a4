"""crossvault's local AWS test bed: moto_server extended with AWS Backup operations."""
