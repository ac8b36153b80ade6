{#- One row per MLflow run that published recommendations, with its model
    version. The table appears with the first publication; until then this
    model is empty, so that feedback can be built before anything is
    published. -#}
{%- set runs = source('published', 'recommendation_runs') %}
{%- set runs_exist = execute and load_relation(runs) is not none %}

with

{% if runs_exist %}

runs as (

    select * from {{ runs }}

),

final as (

    select
        cast(run_id as {{ dbt.type_string() }}) as run_id,
        cast(max(model_version) as integer) as model_version,
        min(published_at) as first_published_at

    from runs
    group by run_id

)

{% else %}

final as (

    select
        cast(null as {{ dbt.type_string() }}) as run_id,
        cast(null as integer) as model_version,
        cast(null as timestamp) as first_published_at

    where 1 = 0

)

{% endif %}

select * from final
