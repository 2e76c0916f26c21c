/* migrate--1.0--1.1.sql: update a 1.0 install to 1.1 (in development) */

\echo Use "ALTER EXTENSION migrate UPDATE TO '1.1'" to load this file. \quit

-- Every change to the extension's SQL objects made for 1.1 goes here and into
-- migrate--1.1.sql; test oldversions compares the two results.
