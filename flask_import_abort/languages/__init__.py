"""The languages the errors answer in: the shipped message catalogs, a host's own, and the
choice by ``Accept-Language``."""
